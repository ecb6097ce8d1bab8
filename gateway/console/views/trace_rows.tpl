% if not traces:
<tr><td colspan="8" class="muted">No trace yet. Click an offer's click URL and it shows up here.</td></tr>
% end
% for t in traces:
<tr>
  <td class="small"><a href="/traces/{{t['id']}}">{{t['created_at'].strftime('%m-%d %H:%M:%S')}}</a></td>
  <td>{{t['offer'] or '-'}}</td>
  <td>{{t['source']}}</td>
  <td><span class="badge o-{{t['outcome']}}">{{t['outcome']}}</span>{{(' ' + t['error']) if t['error'] else ''}}</td>
  <td><code>{{t['slot_id'] or '-'}}</code></td>
  <td class="num">{{t['trace_ms'] if t['trace_ms'] is not None else '-'}}</td>
  <td class="num">{{t['total_ms'] if t['total_ms'] is not None else '-'}}</td>
  <td class="clip-cell"><code class="clip">{{t['redirect_url'] or t['final_url'] or '-'}}</code></td>
</tr>
% end
