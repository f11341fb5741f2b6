// Building DOM from data. Everything from the API goes in as text nodes,
// never as HTML, so a user or model name cannot inject markup.

/** `el('td', { class: 'num' }, '42')`; children are strings, numbers, nodes or null. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/**
 * Fills a table: `columns` are `{ label, num?, cell(row) }` where cell
 * returns text or a node. Shows `empty` when there are no rows.
 */
export function renderTable(table, columns, rows, empty = 'Nothing yet.') {
  const head = el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { class: c.num ? 'num' : null }, c.label))));
  const body = el('tbody');
  appendRows(body, columns, rows, empty);
  table.replaceChildren(head, body);
}

/** Appends rows to an existing table body (for "load more"). */
export function appendRows(tbody, columns, rows, empty = 'Nothing yet.') {
  if (rows.length === 0 && tbody.children.length === 0) {
    tbody.append(el('tr', {}, el('td', { class: 'empty', colspan: columns.length }, empty)));
    return;
  }
  // data-id: rows of objects with an id can be found (by tests, by inline edits).
  for (const row of rows) tbody.append(el('tr', { 'data-id': row.id ?? row.name }, ...columns.map((c) => el('td', { class: c.num ? 'num' : null }, c.cell(row)))));
}

/** A small coloured label: kind is 'ok' | 'warn' | 'bad' | ''. */
export function badge(text, kind = '') {
  return el('span', { class: `badge ${kind}`.trim() }, text);
}

/** Sets a tile's main value and its smaller line. */
export function setTile(id, value, sub = '') {
  const tile = document.getElementById(id);
  tile.querySelector('.value').textContent = value;
  tile.querySelector('.sub').textContent = sub;
}

/** Shows a form's result line. */
export function formMessage(form, text, ok) {
  const p = form.querySelector('.form-msg');
  p.textContent = text;
  p.className = `form-msg ${ok ? 'ok' : 'bad'}`;
}
