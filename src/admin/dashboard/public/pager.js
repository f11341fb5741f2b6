// A searchable table read a page at a time from a keyset-paginated admin
// list (`search`, `limit`, `after` → `has_more`, `next_after`).

import { api, withQuery } from './api.js';
import { el, renderTable } from './dom.js';

const PAGE = 20;
/** Typing pauses this long before the search runs. */
const DEBOUNCE_MS = 250;

export class Pager {
  /**
   * `path`: the list route; `query()`: extra query fields; `columns`, `empty`:
   * as for renderTable. `id` prefixes the controls' ids (`<id>-search`…).
   */
  constructor({ id, path, columns, empty, query = () => ({}) }) {
    Object.assign(this, { path, columns, empty, query });
    /** `after` of each page shown so far: the last is the current page's. */
    this.stack = [null];
    this.next = null;
    /** Answers can arrive out of order (typing, then paging): only the latest request's is drawn. */
    this.seq = 0;
    this.table = el('table', { id: `${id}-table` });
    this.search = el('input', { id: `${id}-search`, type: 'search', placeholder: 'Search', maxlength: 200, autocomplete: 'off' });
    this.prev = el('button', { type: 'button', id: `${id}-prev`, class: 'secondary small' }, '‹ Previous');
    this.more = el('button', { type: 'button', id: `${id}-next`, class: 'secondary small' }, 'Next ›');
    this.where = el('span', { class: 'muted', id: `${id}-page` });
    this.error = el('span', { class: 'inline-msg', role: 'status' });
    let timer = null;
    this.search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.first(), DEBOUNCE_MS);
    });
    this.prev.addEventListener('click', () => {
      this.stack.pop();
      this.show();
    });
    this.more.addEventListener('click', () => {
      this.stack.push(this.next);
      this.show();
    });
  }

  /** The search box, the table and the page controls. */
  nodes() {
    return [
      el('div', { class: 'toolbar' }, el('label', { class: 'inline' }, 'Search', this.search), this.error),
      el('div', { class: 'scroll' }, this.table),
      el('div', { class: 'pager' }, this.prev, this.where, this.more),
    ];
  }

  /** Back to the first page (after a search or a change that adds rows). */
  first() {
    this.stack = [null];
    return this.show();
  }

  /** Reloads the current page. */
  async show() {
    const after = this.stack[this.stack.length - 1];
    const search = this.search.value.trim();
    const seq = ++this.seq;
    try {
      const page = await api(withQuery(this.path, { ...this.query(), search, limit: PAGE, after }));
      if (seq !== this.seq) return;
      this.error.textContent = '';
      renderTable(this.table, this.columns, page.data, search === '' ? this.empty : 'Nothing matches.');
      this.next = page.next_after;
      this.prev.disabled = this.stack.length === 1;
      this.more.disabled = !page.has_more;
      this.where.textContent = `Page ${this.stack.length}`;
    } catch (err) {
      if (seq !== this.seq) return;
      this.error.textContent = err.message;
      throw err;
    }
  }
}
