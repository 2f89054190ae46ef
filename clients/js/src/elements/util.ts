/** dispatch fires a CustomEvent that bubbles out of the shadow DOM; it returns false when a listener cancelled it. */
export function dispatch<T>(target: EventTarget, type: string, detail: T, cancelable = false): boolean {
  return target.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true, cancelable }));
}

/**
 * upgradeProperty re-applies a property set on the element before it was
 * defined (a framework rendering it early), so that the class setter sees it.
 */
export function upgradeProperty(el: HTMLElement, name: string): void {
  if (Object.prototype.hasOwnProperty.call(el, name)) {
    const value = (el as unknown as Record<string, unknown>)[name];
    delete (el as unknown as Record<string, unknown>)[name];
    (el as unknown as Record<string, unknown>)[name] = value;
  }
}
