<div class="table-wrap">
<table class="grid hops">
  <thead><tr><th>#</th><th class="num">Status</th><th>Kind</th><th class="num">ms</th><th class="num">Bytes</th><th>URL</th></tr></thead>
  <tbody>
  % for n, hop in enumerate(hops, 1):
    <tr>
      <td>{{n}}</td><td class="num">{{hop.get('status', '-')}}</td><td>{{hop.get('kind', '-')}}</td>
      <td class="num">{{'%.0f' % hop['ms'] if hop.get('ms') is not None else '-'}}</td><td class="num">{{hop.get('bytes', '-')}}</td>
      <td><code class="wrap">{{hop.get('url', '')}}</code>
      % if hop.get('next'):
        <br><span class="muted">&rarr;</span> <code class="wrap">{{hop['next']}}</code>
      % end
      </td>
    </tr>
  % end
  </tbody>
</table>
</div>
