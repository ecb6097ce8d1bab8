% rebase('layout', title=title)
<div class="heading">
  <h1>Traces</h1>
  <label class="live"><input type="checkbox" id="live" checked> live</label>
</div>
<form method="get" action="/traces" class="filters card">
  <label for="offer">Offer</label>
  <select id="offer" name="offer">
    <option value="">all</option>
    % for slug in offers:
    <option{{!' selected' if filters['offer'] == slug else ''}}>{{slug}}</option>
    % end
  </select>
  <label for="outcome">Outcome</label>
  <select id="outcome" name="outcome">
    <option value="">all</option>
    % for outcome in outcomes:
    <option{{!' selected' if filters['outcome'] == outcome else ''}}>{{outcome}}</option>
    % end
  </select>
  <label for="slot">Slot</label>
  <input id="slot" name="slot" value="{{filters['slot']}}" placeholder="any">
  <button type="submit">Filter</button>
</form>
<div class="table-wrap">
<table class="grid traces">
  <thead><tr><th>When (UTC)</th><th>Offer</th><th>Source</th><th>Outcome</th><th>Slot</th><th class="num">Trace ms</th><th class="num">Answer ms</th><th>Sent to</th></tr></thead>
  <tbody id="trace-rows" data-live="/traces/rows?{{query}}" data-every="3">
% include('trace_rows', traces=traces)
  </tbody>
</table>
</div>
