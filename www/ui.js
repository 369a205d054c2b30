// DOM helpers.  Text from the API is untrusted: it only ever becomes text
// nodes and attribute values, never markup (no innerHTML anywhere).

// Make element TAG with ATTRS and CHILDREN.  ATTRS: "class", "text",
// "on<event>" (functions), booleans (set when true), anything else as
// an attribute.  CHILDREN: nodes, strings (as text), arrays, or null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) {
      continue;
    }
    if (k === 'class') {
      el.className = v;
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked' || k === 'selected') {
      el[k] = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    if (Array.isArray(c)) {
      add(el, c);
    } else if (c instanceof Node) {
      el.appendChild(c);
    } else {
      el.appendChild(document.createTextNode(String(c)));
    }
  }
}

export function clear(el) {
  while (el.firstChild) {
    el.removeChild(el.firstChild);
  }
  return el;
}

// Replace the content of EL with CHILDREN (as h() takes them).
export function fill(el, ...children) {
  add(clear(el), children);
  return el;
}

// Sizes in binary units, as qemu-img prints them.
export function fmtSize(n) {
  if (n === null || n === undefined || n === '') {
    return '—';
  }
  n = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

// A time from the API ("2026-11-29T13:53:34Z", or without a zone: UTC)
// as local "2026-11-29 14:53".
export function fmtTime(iso) {
  if (!iso) {
    return '—';
  }
  const s = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`;
  const d = new Date(s);
  if (isNaN(d)) {
    return String(iso);
  }
  const p = x => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
         `${p(d.getHours())}:${p(d.getMinutes())}`;
}

// "image_uploading" -> "Image Uploading"
export function titleCase(s) {
  return String(s).replace(/[_-]+/g, ' ')
    .replace(/\w\S*/g, w => w[0].toUpperCase() + w.slice(1).toLowerCase());
}

// A status badge; KIND: ok, busy, bad, off.
export function badge(text, kind) {
  return h('span', {class: `badge ${kind || ''}`}, text);
}

export function spinner() {
  return h('span', {class: 'spinner', 'aria-hidden': 'true'});
}

// A short message in the corner, read out by screen readers.
export function toast(text, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', {class: `toast ${kind}`}, text);
  box.appendChild(t);
  setTimeout(() => t.remove(), 6000);
}

// A failure that stays until dismissed.
export function alertBox(title, text, key) {
  const box = document.getElementById('alerts');
  if (key && box.querySelector(`[data-key="${CSS.escape(key)}"]`)) {
    return;
  }
  const a = h('div', {class: 'alert error', role: 'alert', 'data-key': key},
    h('strong', null, title), ' ', h('span', {class: 'reason'}, text),
    h('button', {type: 'button', class: 'link', 'aria-label': 'Dismiss',
                 onclick: () => a.remove()}, '×'));
  box.appendChild(a);
}

let uid = 0;
export function fieldId() {
  uid += 1;
  return `f${uid}`;
}

// A labelled form field around CONTROL (an input, select or textarea).
export function field(label, control, hint) {
  const id = control.id || fieldId();
  control.id = id;
  const hintEl = hint ? h('div', {class: 'hint', id: `${id}-hint`}, hint) : null;
  if (hintEl) {
    control.setAttribute('aria-describedby', hintEl.id);
  }
  if (control.type === 'checkbox') {
    return h('div', {class: 'field check'}, control,
             h('label', {for: id}, label), hintEl);
  }
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hintEl);
}

// A modal dialog with a form.  OPTS: title, body (nodes), submit (label),
// danger, onsubmit(form) -> Promise (its rejection's message is shown in
// the dialog, which stays open), oncancel() (called when cancelled).
// Resolves with onsubmit's value, or null when cancelled.
export function dialog(opts) {
  return new Promise(resolve => {
    const err = h('div', {class: 'alert error', role: 'alert', hidden: true});
    const submit = h('button', {type: 'submit', class: opts.danger ? 'danger' : 'primary'},
                     opts.submit || 'Submit');
    const cancel = h('button', {type: 'button', onclick: () => close(null)}, 'Cancel');
    const form = h('form', {method: 'dialog', novalidate: true},
      h('h2', {id: 'dialog-title'}, opts.title), err, opts.body || [],
      h('div', {class: 'buttons'}, cancel, submit));
    const dlg = h('dialog', {'aria-labelledby': 'dialog-title'}, form);
    let done = false;
    function close(v) {
      if (done) {
        return;
      }
      done = true;
      if (v === null && opts.oncancel) {
        opts.oncancel();
      }
      dlg.close();
      dlg.remove();
      resolve(v);
    }
    dlg.addEventListener('cancel', e => {
      e.preventDefault();
      close(null);
    });
    form.addEventListener('submit', async e => {
      e.preventDefault();
      if (!form.reportValidity()) {
        return;
      }
      submit.disabled = true;
      err.hidden = true;
      try {
        const v = opts.onsubmit ? await opts.onsubmit(form) : true;
        close(v === undefined ? true : v);
      } catch (x) {
        err.textContent = x.message || String(x);
        err.hidden = false;
        submit.disabled = false;
        err.setAttribute('tabindex', '-1');
        err.focus();
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    const first = form.querySelector('input:not([type=hidden]), select, textarea');
    (first || submit).focus();
  });
}

export function confirmDialog(title, text, label) {
  return dialog({title, body: [h('p', null, text)], submit: label, danger: true});
}

// A table whose rows are kept by key between updates, so that a refresh
// does not move the focus nor close an open menu unless that row changed.
// COLUMNS: [{label, cell(item) -> node|string, class}].  OPTS: key(item),
// sig(item) (a string: the row is rebuilt when it changes), empty, label.
export class Table {
  constructor(columns, opts) {
    this.columns = columns;
    this.opts = opts;
    this.rows = new Map();
    this.tbody = h('tbody');
    this.emptyRow = h('tr', {class: 'empty'},
      h('td', {colspan: columns.length}, opts.empty || 'Nothing here yet.'));
    this.el = h('div', {class: 'table-wrap'},
      h('table', {'aria-label': opts.label},
        h('thead', null, h('tr', null, columns.map(c =>
          h('th', {scope: 'col', class: c.class}, c.label)))),
        this.tbody));
  }

  row(item) {
    return h('tr', {'data-id': this.opts.key(item)}, this.columns.map(c =>
      h('td', {'data-label': c.label, class: c.class}, c.cell(item))));
  }

  update(items) {
    const active = document.activeElement;
    const keep = new Map();
    let refocus = null;
    let prev = null;
    for (const item of items) {
      const k = this.opts.key(item);
      const sig = this.opts.sig(item);
      let r = this.rows.get(k);
      if (!r || r.sig !== sig) {
        const tr = this.row(item);
        if (r) {
          if (r.tr.contains(active) && active.dataset.focus) {
            refocus = [tr, active.dataset.focus];
          }
          r.tr.replaceWith(tr);
        }
        r = {tr, sig};
      }
      keep.set(k, r);
      const want = prev ? prev.nextSibling : this.tbody.firstChild;
      if (want !== r.tr) {
        this.tbody.insertBefore(r.tr, want);
      }
      prev = r.tr;
    }
    for (const [k, r] of this.rows) {
      if (!keep.has(k)) {
        r.tr.remove();
      }
    }
    this.rows = keep;
    if (items.length === 0) {
      this.tbody.appendChild(this.emptyRow);
    } else {
      this.emptyRow.remove();
    }
    if (refocus) {
      const el = refocus[0].querySelector(`[data-focus="${CSS.escape(refocus[1])}"]`);
      if (el) {
        el.focus();
      }
    }
  }
}

// An action menu: a button that opens a list of buttons.  Keyboard:
// Enter/Space opens, arrows move, Escape closes and returns the focus.
// ITEMS: [{label, onclick, danger}].
export function menu(label, items, focusKey) {
  const list = h('div', {class: 'menu-list', role: 'menu', hidden: true});
  const btn = h('button', {type: 'button', class: 'menu-button',
                           'aria-haspopup': 'menu', 'aria-expanded': 'false',
                           'data-focus': focusKey}, label, ' ▾');
  const wrap = h('div', {class: 'menu'}, btn, list);
  function open(v) {
    list.hidden = !v;
    btn.setAttribute('aria-expanded', String(v));
    if (v) {
      const first = list.querySelector('button');
      if (first) {
        first.focus();
      }
      document.addEventListener('click', outside, true);
    } else {
      document.removeEventListener('click', outside, true);
    }
  }
  function outside(e) {
    if (!wrap.contains(e.target)) {
      open(false);
    }
  }
  btn.addEventListener('click', () => open(list.hidden));
  for (const it of items) {
    list.appendChild(h('button', {type: 'button', role: 'menuitem',
                                  class: it.danger ? 'danger-text' : null,
                                  onclick: () => {
                                    open(false);
                                    btn.focus();
                                    it.onclick();
                                  }}, it.label));
  }
  list.addEventListener('keydown', e => {
    const all = [...list.querySelectorAll('button')];
    const i = all.indexOf(document.activeElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      open(false);
      btn.focus();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = all.length;
      all[(i + (e.key === 'ArrowDown' ? 1 : n - 1)) % n].focus();
    } else if (e.key === 'Tab') {
      open(false);
    }
  });
  return wrap;
}

// The heading and toolbar of a page.
export function pageHead(title, ...buttons) {
  return h('div', {class: 'page-head'}, h('h1', null, title),
           h('div', {class: 'toolbar'}, buttons));
}
