% rebase('layout', title=title)
% ro = session.role != 'admin'
% bad = error.field if error else ''
<h1>Egress pool</h1>
% if error:
<p class="problem" role="alert">Not done: {{error.field}} {{error.message}}</p>
% end
% if pool.warnings:
<section class="card warnings"><ul>
% for warning in pool.warnings:
  <li>{{warning}}</li>
% end
</ul></section>
% end
<section class="card">
  <h2>Countries</h2>
  % if pool.countries:
  <div class="table-wrap">
  <table class="grid">
    <thead><tr><th>Country</th><th class="num">Total</th><th class="num">Ready</th><th class="num">Cooling</th><th class="num">Leased</th><th class="num">Quarantined</th><th class="num">Disabled</th><th>Utilization</th></tr></thead>
    <tbody>
    % for c in pool.countries:
      <tr class="{{'alert' if c.alert else ''}}">
        <td><a href="/pool?country={{c.country}}">{{c.country}}</a></td><td class="num">{{c.total}}</td><td class="num">{{c.ready}}</td>
        <td class="num">{{c.cooling}}</td><td class="num">{{c.leased}}</td><td class="num">{{c.quarantined}}</td><td class="num">{{c.disabled}}</td>
        <td><meter min="0" max="1" value="{{c.utilization}}" high="0.8">{{'%.0f%%' % (c.utilization * 100)}}</meter> {{'%.0f%%' % (c.utilization * 100)}}</td>
      </tr>
    % end
    </tbody>
  </table>
  </div>
  % else:
  <p class="muted">No slot yet: provision provider sessions or add static proxies below.</p>
  % end
</section>

<div class="columns">
<section class="card">
  <h2>Provision provider sessions</h2>
  <form method="post" action="/pool/provision" class="form{{' invalid' if bad == 'countries' else ''}}">
    <input type="hidden" name="csrf" value="{{session.csrf}}">
    <label for="provider">Provider</label>
    <select id="provider" name="provider">
    % for name in providers:
      <option{{!' selected' if posted.get('provider') == name else ''}}>{{name}}</option>
    % end
    </select>
    <label for="countries">Slots per country</label>
    <input id="countries" name="countries" placeholder="us=50, gb=20" value="{{posted.get('countries', '')}}">
    <p class="help">Adds only what is missing; running it again changes nothing.</p>
    <button type="submit" class="primary"{{!' disabled' if ro else ''}}>Provision</button>
  </form>
</section>
<section class="card">
  <h2>Add a static proxy</h2>
  <form method="post" action="/pool/slots" class="form">
    <input type="hidden" name="csrf" value="{{session.csrf}}">
    <label for="url">Proxy URL</label>
    <input id="url" name="url" placeholder="socks5://user:pass@host:port" value="{{posted.get('url', '')}}" autocomplete="off">
    <label for="country">Country</label>
    <input id="country" name="country" placeholder="us" value="{{posted.get('country', '')}}">
    <label for="slot-id">Id (optional)</label>
    <input id="slot-id" name="id" value="{{posted.get('id', '')}}">
    <button type="submit" class="primary"{{!' disabled' if ro else ''}}>Add</button>
  </form>
</section>
<section class="card">
  <h2>Import static proxies</h2>
  <form method="post" action="/pool/import" class="form">
    <input type="hidden" name="csrf" value="{{session.csrf}}">
    <label for="csv">CSV: <code>country,url[,id]</code> per line</label>
    <textarea id="csv" name="csv" rows="4" spellcheck="false">{{posted.get('csv', '')}}</textarea>
    <p class="help">Every row is checked first: one bad row refuses the whole file.</p>
    <button type="submit" class="primary"{{!' disabled' if ro else ''}}>Import</button>
  </form>
</section>
<section class="card">
  <h2>How many slots?</h2>
  <form method="get" action="/pool" class="form">
    <label for="peak">Peak clicks per second</label><input id="peak" name="peak" value="{{size['peak'] if size else ''}}" inputmode="decimal">
    <label for="trace_s">Seconds per trace</label><input id="trace_s" name="trace_s" value="{{size['trace_s'] if size else '3'}}" inputmode="decimal">
    <label for="cooldown_s">Cooldown (s)</label><input id="cooldown_s" name="cooldown_s" value="{{size['cooldown_s'] if size else cooldown_s}}" inputmode="decimal">
    <label for="headroom">Headroom</label><input id="headroom" name="headroom" value="{{size['headroom'] if size else '1.5'}}" inputmode="decimal">
    <button type="submit">Calculate</button>
  </form>
  % if size and 'error' in size:
  <p class="error">{{size['error']}}</p>
  % elif size:
  <p class="answer"><strong>{{size['slots']}} slots</strong>: {{size['explanation']}}</p>
  % end
</section>
</div>

<section class="card">
  <div class="heading">
    <h2>Slots{{(' of ' + country) if country else ''}}</h2>
    <form method="post" action="/pool/reset-health">
      <input type="hidden" name="csrf" value="{{session.csrf}}">
      <button type="submit" data-confirm="Forget the failures of every slot and end every quarantine?"{{!' disabled' if ro else ''}}>Reset health of all</button>
    </form>
  </div>
  % if len(slots) >= shown:
  <p class="muted small">The first {{shown}} slots; pick a country above to see its own.</p>
  % end
  <div class="table-wrap">
  <table class="grid">
    <thead><tr><th>Slot</th><th>Country</th><th>Kind</th><th>State</th><th class="num">Uses</th><th class="num">OK</th><th class="num">Failed</th><th>Last</th><th>Held by</th><th></th></tr></thead>
    <tbody>
    % for slot in slots:
    % live = slot['live'] or {}
      <tr>
        <td><code>{{slot['id']}}</code></td><td>{{slot['country']}}</td><td>{{slot.get('provider') or 'static'}}</td>
        <td><span class="badge state-{{live.get('state', 'missing')}}">{{live.get('state', 'missing')}}</span>{{'' if slot['enabled'] else ' (disabled)'}}</td>
        <td class="num">{{live.get('uses', 0)}}</td><td class="num">{{live.get('successes', 0)}}</td><td class="num">{{live.get('failures', 0)}}</td>
        <td>{{live.get('last_outcome', '-')}}</td>
        <td class="small">{{live.get('holder', '')}}</td>
        <td class="row-actions">
          <form method="post" action="/pool/slots/{{slot['id']}}/{{'disable' if slot['enabled'] else 'enable'}}"><input type="hidden" name="csrf" value="{{session.csrf}}"><button type="submit" class="small-button"{{!' disabled' if ro else ''}}>{{'Disable' if slot['enabled'] else 'Enable'}}</button></form>
          <form method="post" action="/pool/slots/{{slot['id']}}/reset-health"><input type="hidden" name="csrf" value="{{session.csrf}}"><button type="submit" class="small-button"{{!' disabled' if ro else ''}}>Reset health</button></form>
          <form method="post" action="/pool/slots/{{slot['id']}}/remove"><input type="hidden" name="csrf" value="{{session.csrf}}"><button type="submit" class="small-button danger" data-confirm="Remove slot {{slot['id']}}?"{{!' disabled' if ro else ''}}>Remove</button></form>
        </td>
      </tr>
    % end
    </tbody>
  </table>
  </div>
</section>
