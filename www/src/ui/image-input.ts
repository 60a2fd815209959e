/**
 * The three ways to give the page an image: the file picker, drag and drop anywhere on the
 * page, and paste. Each calls `onFile` with the file.
 */

/** Whether a drag carries files (and not, say, selected text). */
function hasFiles(event: DragEvent): boolean {
  return Array.from(event.dataTransfer?.types ?? []).includes("Files");
}

/**
 * Wires `input` (an `<input type=file>`), drops on the page (the body gets the class
 * `dragging` while a file is held over it) and pastes.
 */
export function wireImageInput(input: HTMLInputElement, onFile: (file: File) => void): void {
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (file) onFile(file);
    input.value = ""; // choosing the same file again is a new choice
  });

  let depth = 0; // dragenter/dragleave fire for every child crossed
  window.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    document.body.classList.add("dragging");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove("dragging");
  });
  window.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    const file = e.dataTransfer?.files[0];
    if (file) onFile(file);
  });

  window.addEventListener("paste", (e) => {
    const target = e.target as HTMLElement | null;
    if (target?.closest("input, textarea, [contenteditable]")) return;
    const item = Array.from(e.clipboardData?.items ?? []).find((i) => i.kind === "file");
    const file = item?.getAsFile();
    if (file) {
      e.preventDefault();
      onFile(file);
    }
  });
}
