// Building blocks of the manage views: form fields, submit handling with the
// API's message next to the form, inline edits and two-click buttons.

import { el, formMessage } from './dom.js';

/** A labelled input; `attrs` go on the input (name, type, placeholder…). */
export function field(label, attrs) {
  return el('label', {}, label, el('input', { autocomplete: 'off', ...attrs }));
}

/** A labelled select; `options` are `[value, text]` pairs. */
export function choice(label, attrs, options) {
  return el('label', {}, label, el('select', attrs, ...options.map(([value, text]) => el('option', { value }, text))));
}

/** Replaces a select's `[value, text]` options, keeping the choice when it is still there. */
export function fillSelect(select, options) {
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, text]) => el('option', { value }, text)));
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

/** A labelled checkbox. */
export function check(label, attrs) {
  return el('label', { class: 'inline' }, el('input', { type: 'checkbox', ...attrs }), label);
}

/** A form card: title, fields, a submit button and the line its outcome goes to. */
export function formCard(id, title, submit, ...fields) {
  return el('form', { id, class: 'card' }, el('h2', {}, title), ...fields, el('button', { type: 'submit' }, submit), el('p', { class: 'form-msg', role: 'status' }));
}

/** A titled card around a table (and whatever goes above it). */
export function tableCard(title, tableId, ...above) {
  return el('section', { class: 'card' }, el('h2', {}, title), ...above, el('div', { class: 'scroll' }, el('table', { id: tableId })));
}

/**
 * Runs a form's submit: disables it meanwhile and shows the outcome (the
 * action's text, or the API's error message) under it.
 */
export function onSubmit(form, action) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      formMessage(form, await action(new FormData(form)), true);
    } catch (err) {
      formMessage(form, err.message, false);
    } finally {
      button.disabled = false;
    }
  });
}

/** '' → null (no limit, no override), else a whole number ≥ 0; anything else throws naming the field. */
export function optionalInt(text, what) {
  const s = String(text ?? '').trim();
  if (s === '') return null;
  if (!/^\d{1,15}$/.test(s)) throw new Error(`${what} must be a whole number (or empty).`);
  return Number(s);
}

/**
 * An inline control's outcome, shown right after it: `run` is awaited with
 * the control disabled; its error message (or nothing) appears in a small span.
 */
export async function inline(control, run) {
  let msg = control.nextElementSibling;
  if (msg === null || !msg.classList.contains('inline-msg')) {
    msg = el('span', { class: 'inline-msg', role: 'status' });
    control.after(msg);
  }
  msg.textContent = '';
  control.disabled = true;
  try {
    await run();
  } catch (err) {
    msg.textContent = err.message;
  } finally {
    control.disabled = false;
  }
}

/** An input that saves itself when changed (Enter or leaving it). */
export function inlineInput(attrs, save) {
  const input = el('input', { class: 'inline-edit', autocomplete: 'off', ...attrs });
  input.addEventListener('change', () => inline(input, () => save(input.value)));
  return input;
}

/** A button that runs `action` (via `inline`) on click. */
export function actionButton(label, attrs, action) {
  const button = el('button', { type: 'button', class: 'secondary small', ...attrs }, label);
  button.addEventListener('click', () => inline(button, action));
  return button;
}

/** A destructive button arms on the first click and acts on a second within this long. */
const CONFIRM_MS = 4000;

/** A two-click button for removals and revocations. */
export function confirmButton(label, attrs, action) {
  let armed = null;
  const button = el('button', { type: 'button', class: 'danger', ...attrs }, label);
  button.addEventListener('click', () => {
    if (armed === null) {
      button.textContent = `Confirm ${label.toLowerCase()}`;
      button.classList.add('confirm');
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
        button.classList.remove('confirm');
      }, CONFIRM_MS);
      return;
    }
    clearTimeout(armed);
    armed = null;
    return inline(button, action);
  });
  return button;
}
