/** Shortens text to a service's field limit, marking the cut, so a long name never gets a message refused. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}
