% rebase('layout', title=title)
<h1>Trace <span class="muted small">{{trace['id']}}</span></h1>
<section class="card">
  <dl class="facts">
    <dt>When</dt><dd>{{trace['created_at'].strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}} UTC</dd>
    <dt>Offer</dt><dd>{{trace['offer'] or '-'}} ({{trace['source']}})</dd>
    <dt>Outcome</dt><dd><span class="badge o-{{trace['outcome']}}">{{trace['outcome']}}</span> {{trace['error'] or ''}}</dd>
    <dt>Slot</dt><dd><code>{{trace['slot_id'] or '-'}}</code></dd>
    <dt>Tracer</dt><dd>{{trace.get('tracer') or '-'}}</dd>
    <dt>Times</dt><dd>lease wait {{trace['lease_wait_ms'] if trace['lease_wait_ms'] is not None else '-'}} ms, trace {{trace['trace_ms'] if trace['trace_ms'] is not None else '-'}} ms, answer {{trace['total_ms'] if trace['total_ms'] is not None else '-'}} ms</dd>
    % if trace['ahead_trace_id']:
    <dt>Made ahead</dt><dd><a href="/traces/{{trace['ahead_trace_id']}}">{{trace['ahead_trace_id']}}</a>, {{trace['ahead_age_ms']}} ms old</dd>
    % end
    <dt>Inbound</dt><dd>
    % for name, value in trace['inbound'] or []:
      <code>{{name}}={{value}}</code>
    % end
    </dd>
    <dt>Parameters</dt><dd>
    % for name, value in trace['params'] or []:
      <code>{{name}}={{value}}</code>
    % end
    </dd>
    <dt>Final URL</dt><dd><code class="wrap">{{trace['final_url'] or '-'}}</code></dd>
    <dt>Sent to</dt><dd><code class="wrap">{{trace['redirect_url'] or '-'}}</code></dd>
  </dl>
</section>
<section class="card">
  <h2>Hops</h2>
  % if trace['hops']:
  % include('hops', hops=trace['hops'])
  % else:
  <p class="muted">No hop: this answer needed no trace of its own.</p>
  % end
</section>
