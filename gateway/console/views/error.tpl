% rebase('layout', title='Error ' + str(status_code))
<section class="card narrow">
  <h1>{{status_code}}</h1>
  <p class="problem">{{message}}</p>
  <p><a href="/">Back to the overview</a></p>
</section>
