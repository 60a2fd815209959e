/**
 * The model menu: the bundled models by task, plus a user's own converted model file (opened
 * with a file picker made on demand, so the page's only `input[type=file]` is the image one).
 */
import type { ModelSource } from "../protocol";
import { BUNDLED_MODELS } from "../models";

/** A model the user can pick. */
export interface ModelChoice {
  /** A bundled model's id, or "custom". */
  id: string;
  label: string;
  description: string;
  source: ModelSource;
}

/** Only bundled models are cached: their URLs carry a content hash (not so in `vite dev`). */
const CACHE_BUNDLED = !import.meta.env.DEV;

export function bundledChoice(id: string): ModelChoice | null {
  const model = BUNDLED_MODELS.find((m) => m.id === id);
  if (!model) return null;
  const { label, description, url } = model;
  return { id, label, description, source: { kind: "url", url, cache: CACHE_BUNDLED } };
}

export class ModelMenu {
  private custom: ModelChoice | null = null;
  /** Called with the user's new choice. */
  onChoose: (choice: ModelChoice) => void = () => {};
  /** Called when a chosen model file cannot be read. */
  onFileError: (message: string) => void = () => {};

  constructor(
    private readonly select: HTMLSelectElement,
    ownButton: HTMLButtonElement,
  ) {
    for (const model of BUNDLED_MODELS) select.add(new Option(model.label, model.id));
    select.addEventListener("change", () => {
      const choice = select.value === "custom" ? this.custom : bundledChoice(select.value);
      if (choice) this.onChoose(choice);
    });
    ownButton.addEventListener("click", () => this.pickFile());
  }

  /** Shows `id` as the current choice. */
  show(id: string): void {
    this.select.value = id;
  }

  set disabled(value: boolean) {
    this.select.disabled = value;
  }

  private pickFile(): void {
    const input = document.createElement("input");
    input.type = "file";
    input.accept = ".safetensors";
    input.addEventListener("change", async () => {
      const file = input.files?.[0];
      if (!file) return;
      let bytes: ArrayBuffer;
      try {
        bytes = await file.arrayBuffer();
      } catch {
        this.onFileError(`“${file.name}” could not be read.`);
        return;
      }
      this.custom = {
        id: "custom",
        label: file.name,
        description: "Your own model file (a GRL checkpoint converted with grl convert).",
        source: { kind: "file", name: file.name, bytes },
      };
      let option = Array.from(this.select.options).find((o) => o.value === "custom");
      if (!option) {
        option = new Option("", "custom");
        this.select.add(option);
      }
      option.text = `Your model: ${file.name}`;
      this.select.value = "custom";
      this.onChoose(this.custom);
    });
    input.click();
  }
}
