% rebase('layout', title=title)
% ro = session.role != 'admin'
<div class="heading">
  <h1>{{offer.name}} <span class="muted">{{offer.slug}}</span></h1>
  <div class="buttons">
    <a class="button" href="/offers/{{offer.slug}}/edit">Edit</a>
    <form method="post" action="/offers/{{offer.slug}}/{{'disable' if offer.enabled else 'enable'}}">
      <input type="hidden" name="csrf" value="{{session.csrf}}">
      <button type="submit"{{!' disabled' if ro else ''}}>{{'Disable' if offer.enabled else 'Enable'}}</button>
    </form>
  </div>
</div>
<section class="card">
  <dl class="facts">
    <dt>Click URL</dt>
    <dd class="copyable"><code id="click-url">{{base}}/c/{{offer.slug}}</code> <button type="button" class="copy" data-copy="{{base}}/c/{{offer.slug}}">Copy</button></dd>
    <dt>State</dt><dd>{{!'<span class="badge on">enabled</span>' if offer.enabled else '<span class="badge off">disabled: clicks get 404</span>'}}</dd>
    <dt>Tracking URL</dt><dd><code class="wrap">{{offer.tracking_url}}</code></dd>
    <dt>Fallback</dt><dd><code class="wrap">{{offer.fallback_url or offer.tracking_url}}</code></dd>
    <dt>Country</dt><dd>{{offer.country}}{{(' then ' + ', '.join(offer.fallback_countries)) if offer.fallback_countries else ''}}</dd>
    <dt>Wait</dt><dd>{{offer.wait_ms}} ms</dd>
    <dt>Tracer</dt><dd>{{offer.tracer}}{{' (no browser worker is running: traced over HTTP)' if offer.tracer != 'http' and not browser_on else ''}}</dd>
    <dt>Click mode</dt><dd><span class="badge mode-{{offer.click_mode}}">{{offer.click_mode}}</span>
    % if offer.click_mode != 'inline':
      depth {{ahead['depth']}}, max age {{ahead['max_age_s']}} s;
      % for bucket in ahead['buckets']:
      {{bucket['country']}}: {{bucket['entries']}} fresh trace(s);
      % end
      % counts = ahead['counts']
      made {{counts['made']}}, handed to clicks {{counts['clicks']}}, to the feed {{counts['feed']}}, missed {{counts['misses']}}, expired {{counts['expired']}}, kept private {{counts['late_private']}}, never answered {{counts['taken_unanswered']}}
    % end
    </dd>
    <dt>Clicks today</dt><dd>{{sum(today.values())}}
    % for outcome, n in sorted(today.items(), key=lambda item: -item[1]):
      <span class="badge o-{{outcome}}">{{outcome}} {{n}}</span>
    % end
    <a class="small" href="/traces?offer={{offer.slug}}">traces</a></dd>
  </dl>
</section>

<section class="card" id="pairs">
  <div class="heading">
    <h2>Campaign pairs</h2>
    <a class="button" href="/offers/{{offer.slug}}/pairs.csv" download>Export CSV</a>
  </div>
  <div class="tiles">
    <div class="tile"><span class="big">{{stats['pairs_total']}}</span><span>pairs ({{stats['pairs_enabled']}} enabled)</span></div>
    <div class="tile"><span class="big">{{stats['webhooks']}}</span><span>postbacks</span></div>
    <div class="tile"><span class="big">{{stats['updates']}}</span><span>updates</span></div>
    <div class="tile"><span class="big small-text">{{stats['last_webhook_at'].strftime('%Y-%m-%d %H:%M:%S') if stats['last_webhook_at'] else '-'}}</span><span>last postback (UTC)</span></div>
  </div>
  % if job:
  <div class="job" data-job="{{job}}" role="status" aria-live="polite">
    <div class="bar"><span></span></div>
    <p class="job-text">Starting…</p>
  </div>
  % end
  <form method="post" action="/offers/{{offer.slug}}/pairs" class="inline-form">
    <input type="hidden" name="csrf" value="{{session.csrf}}">
    <label for="count">Create</label>
    <input id="count" name="count" type="number" min="1" max="{{20 - stats['pairs_total'] if stats['pairs_total'] < 20 else 1}}" value="1">
    <span>pair(s) in Trackier (at most 20 per offer; creation is paced)</span>
    <button type="submit" class="primary"{{!' disabled' if ro or stats['pairs_total'] >= 20 else ''}}>Create</button>
  </form>
  % if test:
  <div class="test-result" role="status">
    <h3>Test postback to pair {{tested}}</h3>
    <dl class="facts">
    % for key, value in test.items():
      <dt>{{key}}</dt><dd><code class="wrap">{{value}}</code></dd>
    % end
    </dl>
  </div>
  % end
  % if stats['pairs']:
  <div class="table-wrap">
  <table class="grid pairs">
    <thead><tr><th>#</th><th>Campaigns (URL1 / URL2)</th><th>Webhook URL</th><th>Google Ads template</th><th class="num">Postbacks</th><th class="num">Updates</th><th>Last postback</th><th>Sub-id values</th><th>Enabled</th><th></th></tr></thead>
    <tbody>
    % for pair in stats['pairs']:
      <tr id="pair-{{pair['pair']}}" class="{{'' if pair['enabled'] else 'off'}}">
        <td>{{pair['pair']}}<br><span class="muted small">{{pair['name']}}</span></td>
        <td><code>{{pair['url1_campaign_id'] or '-'}}</code><br><code>{{pair['url2_campaign_id'] or '-'}}</code>
          % if not pair['complete']:
          <br><span class="badge off">incomplete: create again to finish</span>
          % end
        </td>
        <td class="copyable"><code class="clip">{{pair['webhook_url_masked']}}</code>
          % if not ro:
          <button type="button" class="copy" data-copy="{{pair['webhook_url']}}">Copy</button>
          <details class="secret"><summary>Show token</summary><code class="wrap">{{pair['webhook_url']}}</code></details>
          % else:
          <span class="muted small">the token is shown to admins only</span>
          % end
        </td>
        <td class="copyable"><code class="clip">{{pair['template'] or '-'}}</code>
          % if pair['template']:
          <button type="button" class="copy" data-copy="{{pair['template']}}">Copy</button>
          % end
        </td>
        <td class="num">{{pair['webhook_count']}}</td>
        <td class="num">{{pair['update_count']}}</td>
        <td class="small">{{pair['last_webhook_at'].strftime('%m-%d %H:%M:%S') if pair['last_webhook_at'] else '-'}}</td>
        <td class="small">
        % for key, value in (pair['sub_id_values'] or {}).items():
          <code>{{key}}={{value}}</code>
        % end
        </td>
        <td>
          <form method="post" action="/offers/{{offer.slug}}/pairs/{{pair['pair']}}/{{'disable' if pair['enabled'] else 'enable'}}">
            <input type="hidden" name="csrf" value="{{session.csrf}}">
            <button type="submit" class="switch {{'on' if pair['enabled'] else ''}}" role="switch" aria-checked="{{'true' if pair['enabled'] else 'false'}}" title="{{'pair 1 takes postbacks that name only the offer: it stays enabled' if pair['pair'] == 1 else ''}}"{{!' disabled' if ro or pair['pair'] == 1 else ''}}><span></span>{{'on' if pair['enabled'] else 'off'}}</button>
          </form>
        </td>
        <td>
          <form method="post" action="/offers/{{offer.slug}}/pairs/{{pair['pair']}}/test">
            <input type="hidden" name="csrf" value="{{session.csrf}}">
            <button type="submit" class="small-button"{{!' disabled' if ro or not pair['complete'] else ''}}>Send test postback</button>
          </form>
        </td>
      </tr>
    % end
    </tbody>
  </table>
  </div>
  % else:
  <p class="muted">No pair yet. Each pair is two Trackier campaigns: URL1 receives the ad click and pushes its postback here; URL2 is updated with fresh parameters.</p>
  % end
</section>
