/**
 * What a checker needs of a cancellation: AbortSignal's shape (an
 * AbortSignal is one), without asking for an EventTarget.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A one-shot cancellation for one check. The scheduler makes one per check
 * and each checker listens on it: an AbortController with its EventTarget
 * costs tens of microseconds per check to make and listen on (node's option
 * validation), which showed in the profile of a burst of 500 first checks.
 */
export class Cancellation implements CancelSignal {
  aborted = false;
  private listeners: Array<() => void> | undefined;

  get signal(): CancelSignal {
    return this;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners ?? [];
    this.listeners = undefined;
    for (const listener of listeners) listener();
  }
}
