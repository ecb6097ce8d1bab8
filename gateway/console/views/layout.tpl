<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · Click gateway</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/"><span class="mark">&#x21aa;</span> Click gateway</a>
% if session:
  <nav>
  % for href, label in nav:
    <a href="{{href}}" class="{{'on' if path == href or (href != '/' and path.startswith(href)) else ''}}">{{label}}</a>
  % end
  </nav>
  <form method="post" action="/signout" class="signout">
    <input type="hidden" name="csrf" value="{{session.csrf}}">
    <span class="role role-{{session.role}}">{{session.role}}</span>
    <button class="link" type="submit">Sign out</button>
  </form>
  % if session.role == 'admin':
  <form method="post" action="/signout-everywhere" class="signout">
    <input type="hidden" name="csrf" value="{{session.csrf}}">
    <button class="link" type="submit" title="ends every console session, viewers' and admins', this one too">Sign out everywhere</button>
  </form>
  % end
% end
</header>
<main>
% if notice:
<p class="notice" role="status">{{notice}}</p>
% end
{{!base}}
</main>
</body>
</html>
