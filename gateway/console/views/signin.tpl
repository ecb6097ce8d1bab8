% rebase('layout', title='Sign in')
<section class="card narrow signin">
  <h1>Sign in</h1>
  <p class="muted">Paste the admin token (<code>[admin] token</code>, or the file <code>admin-token</code> in the
  data dir that the gateway's log names)
  % if viewers:
  or the viewer token, which shows everything and changes nothing
  % end
  .</p>
  % if error:
  <p class="problem" role="alert">{{error}}</p>
  % end
  <form method="post" action="/signin">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="next" value="{{next_path}}">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <button type="submit" class="primary">Sign in</button>
  </form>
</section>
