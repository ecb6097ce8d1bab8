% rebase('layout', title=title)
<h1>Overview</h1>
% if warnings:
<section class="card warnings">
  <h2>Needs attention</h2>
  <ul>
  % for warning in warnings:
    <li><a href="{{warning.link}}">{{warning.text}}</a></li>
  % end
  </ul>
</section>
% else:
<p class="ok-line">No warnings: the stores answer, the pool has room, no record was lost.</p>
% end
<div id="charts" data-refresh="/overview/charts" data-every="15">
% include('overview_charts')
</div>
