<div class="tiles">
  <div class="tile"><span class="big">{{offers}}</span><span>offers</span></div>
  <div class="tile"><span class="big" id="clicks-total">{{clicks_total}}</span><span>clicks, last hour</span></div>
  <div class="tile"><span class="big">{{postbacks_total}}</span><span>postbacks, 24 h</span></div>
  <div class="tile"><span class="big">{{updates_total}}</span><span>pair updates, 24 h</span></div>
</div>
<section class="card">
  <h2>Clicks per minute</h2>
  {{!clicks}}
  {{!clicks_legend}}
</section>
<section class="card">
  <h2>Pool utilization</h2>
  {{!pool}}
  {{!pool_legend}}
  <p class="muted small">{{'No snapshot yet: ' if pool_empty else ''}}From the pool snapshots (one per
  <code>[maintenance] snapshot_interval_s</code>, taken by the running gateway).</p>
</section>
<section class="card">
  <h2>Postbacks and pair updates per hour</h2>
  {{!postbacks}}
  {{!postbacks_legend}}
</section>
