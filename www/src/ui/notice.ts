/** A message box on the page: information, a warning or an error, hidden when empty. */

export type NoticeKind = "info" | "warn" | "error";

export class Notice {
  constructor(private readonly element: HTMLElement) {}

  /** Shows `text` under a bold `title`. */
  show(kind: NoticeKind, title: string, text = ""): void {
    this.element.className = `notice notice-${kind}`;
    this.element.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = title;
    this.element.append(strong);
    // Errors from the package start in lower case: a sentence here.
    if (text) this.element.append(" ", text.charAt(0).toUpperCase() + text.slice(1));
    this.element.hidden = false;
  }

  hide(): void {
    this.element.hidden = true;
    this.element.replaceChildren();
  }
}
