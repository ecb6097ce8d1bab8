% rebase('layout', title=title)
% ro = session.role != 'admin'
<div class="heading">
  <h1>Offers</h1>
  <a class="button primary{{' disabled' if ro else ''}}" href="/offers/new">New offer</a>
</div>
% if not offers:
<section class="card empty">
  <p>No offer yet. An offer is an affiliate link the gateway traces for each ad click.</p>
  <p><a class="button primary" href="/offers/new">Create the first offer</a></p>
</section>
% else:
<div class="table-wrap">
<table class="grid">
  <thead><tr><th>Offer</th><th>Click URL</th><th>Mode</th><th>Country</th><th class="num">Clicks today</th><th>Outcomes today</th><th>State</th></tr></thead>
  <tbody>
  % for offer in offers:
  % counts = today.get(offer.id, {})
    <tr>
      <td><a href="/offers/{{offer.slug}}"><strong>{{offer.name}}</strong></a><br><span class="muted small">{{offer.slug}}</span></td>
      <td class="copyable"><code>{{base}}/c/{{offer.slug}}</code> <button type="button" class="copy" data-copy="{{base}}/c/{{offer.slug}}">Copy</button></td>
      <td><span class="badge mode-{{offer.click_mode}}">{{offer.click_mode}}</span></td>
      <td>{{offer.country}}</td>
      <td class="num">{{sum(counts.values())}}</td>
      <td>
      % for outcome, n in sorted(counts.items(), key=lambda item: -item[1]):
        <span class="badge o-{{outcome}}">{{outcome}} {{n}}</span>
      % end
      </td>
      <td>{{!'<span class="badge on">enabled</span>' if offer.enabled else '<span class="badge off">disabled</span>'}}</td>
    </tr>
  % end
  </tbody>
</table>
</div>
% end
