/** HTML built by a tagged template that escapes every interpolated value unless it is already markup. */

/** Markup that is safe to insert as it is: only html`` and trustedMarkup() make one. */
export class Markup {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** What html`` accepts: markup as it is, text and numbers escaped, nothing for null/undefined/false. */
export type Part = Markup | string | number | null | undefined | false | readonly Part[];

/** Escapes text for HTML element content and quoted attributes (in HTML and inline SVG alike). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function render(part: Part): string {
  if (part instanceof Markup) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  if (part === null || part === undefined || part === false) return '';
  return escapeHtml(String(part));
}

/** The template's literal text as is, every interpolation escaped (or inserted, when it is Markup). */
export function html(strings: TemplateStringsArray, ...parts: readonly Part[]): Markup {
  let out = strings[0] ?? '';
  parts.forEach((part, i) => {
    out += render(part) + (strings[i + 1] ?? '');
  });
  return new Markup(out);
}
