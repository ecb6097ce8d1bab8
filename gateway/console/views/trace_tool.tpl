% rebase('layout', title=title)
% ro = session.role != 'admin'
% bad = error.field if error else ''
<h1>Trace a URL</h1>
<form method="post" action="/trace-tool" class="card form">
  <input type="hidden" name="csrf" value="{{session.csrf}}">
  <div class="field wide{{' invalid' if bad == 'url' else ''}}">
    <label for="url">URL</label>
    <input id="url" name="url" value="{{values.get('url', '')}}" placeholder="https://aff.example/click?o=7" autocomplete="off" spellcheck="false">
    % if bad == 'url':
    <p class="error" role="alert">{{error.message}}</p>
    % end
  </div>
  <div class="field-row">
    <div class="field">
      <label for="route">Through</label>
      <select id="route" name="route">
      % for value, label in (('direct', 'no proxy (direct)'), ('country', 'a slot of a country'), ('slot', 'a named slot')):
        <option value="{{value}}"{{!' selected' if values.get('route') == value else ''}}>{{label}}</option>
      % end
      </select>
    </div>
    <div class="field{{' invalid' if bad == 'target' else ''}}">
      <label for="target">Country or slot</label>
      <input id="target" name="target" value="{{values.get('target', '')}}" placeholder="us or luna-us-1">
      % if bad == 'target':
      <p class="error" role="alert">{{error.message}}</p>
      % end
    </div>
    <div class="field{{' invalid' if bad == 'mode' else ''}}">
      <label for="mode">Tracer</label>
      <select id="mode" name="mode">
      % for value, label in (('http', 'http'), ('auto', 'auto (a browser where needed)'), ('browser', 'browser (headless Chromium)')):
        <option value="{{value}}"{{!' selected' if values.get('mode') == value else ''}}>{{label}}</option>
      % end
      </select>
      % if bad == 'mode':
      <p class="error" role="alert">{{error.message}}</p>
      % end
    </div>
    <div class="field">
      <label for="ua">As</label>
      <select id="ua" name="ua">
      % for value in ('desktop', 'mobile'):
        <option{{!' selected' if values.get('ua') == value else ''}}>{{value}}</option>
      % end
      </select>
    </div>
  </div>
  <div class="actions"><button type="submit" class="primary"{{!' disabled' if ro else ''}}>Trace</button></div>
</form>
% if result:
<section class="card">
  <h2>{{'Reached the end' if result.ok else 'Stopped: ' + (result.error or '')}}</h2>
  <dl class="facts">
    <dt>Final URL</dt><dd><code class="wrap">{{result.final_url or '-'}}</code></dd>
    <dt>Total</dt><dd>{{'%.0f' % result.total_ms}} ms{{(' via ' + result.slot_id) if result.slot_id else ''}}, {{sum(hop.bytes for hop in result.hops)}} bytes</dd>
    <dt>Tracer</dt><dd>{{result.tracer}}</dd>
    % if result.detail:
    <dt>Detail</dt><dd>{{result.detail}}</dd>
    % end
    <dt>Parameters</dt><dd>
    % for name, value in result.params:
      <code>{{name}}={{value}}</code>
    % end
    </dd>
  </dl>
  % include('hops', hops=[vars(hop) for hop in result.hops])
</section>
% end
