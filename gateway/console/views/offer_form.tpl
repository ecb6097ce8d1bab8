% rebase('layout', title=title)
% ro = session.role != 'admin'
% bad = error.field.split('.')[0].split('[')[0] if error else ''
<h1>{{title}}</h1>
% if error:
<p class="problem" role="alert">Not saved: {{error.field}} {{error.message}}</p>
% end
<form method="post" class="card form" action="{{'/offers/%s/edit' % offer.slug if offer else '/offers/new'}}">
  <input type="hidden" name="csrf" value="{{session.csrf}}">
  <div class="fields">
  % for f in fields:
  % if f.name == 'slug' and offer:
  % continue
  % end
    <div class="field{{' wide' if f.wide else ''}}{{' invalid' if bad == f.name else ''}}">
      <label for="f-{{f.name}}">{{f.label}}</label>
      % if f.kind == 'choice':
      <select id="f-{{f.name}}" name="{{f.name}}">
        % for choice in f.choices:
        <option value="{{choice}}"{{!' selected' if values.get(f.name) == choice else ''}}>{{choice}}</option>
        % end
      </select>
      % elif f.kind == 'json':
      <textarea id="f-{{f.name}}" name="{{f.name}}" rows="2" spellcheck="false">{{values.get(f.name, '')}}</textarea>
      % else:
      <input id="f-{{f.name}}" name="{{f.name}}" value="{{values.get(f.name, '')}}" autocomplete="off" spellcheck="false"{{!' inputmode="numeric"' if 'int' in f.kind else ''}}>
      % end
      % if bad == f.name:
      <p class="error" role="alert">{{error.message}}</p>
      % end
      % if f.help:
      <p class="help">{{f.help}}</p>
      % end
    </div>
  % end
  </div>
  <div class="actions">
    <button type="submit" class="primary"{{!' disabled' if ro else ''}}>{{'Save' if offer else 'Create offer'}}</button>
    <a href="{{'/offers/' + offer.slug if offer else '/offers'}}">Cancel</a>
  </div>
</form>
