// Reusable fixed-size buffers for the streaming hot paths (exec output, port-forward, the
// API server's relay to kubelets).
//
// Every Buffer over 4 KiB is an ArrayBuffer of its own, and V8 counts its bytes as external
// memory until a GC frees it. A stream that allocates one per read or per frame makes a busy
// process start a mark-compact every ten or so MB it relays (the agent ran 16 of them for
// 200 MB of `kubectl exec` output). Buffers taken here go back to the pool once the write
// that carried them has completed (its callback), so a steady stream allocates nothing.
// Idle pools let their buffers go, so a quiet process keeps no memory for them.

export class BufferPool {
  private free: ArrayBuffer[] = [];
  private used = false;
  private timer?: NodeJS.Timeout;

  /**
   * @param size bytes per buffer
   * @param keep buffers kept for reuse at most (more in flight are simply dropped on return)
   * @param idleMs the pool empties after this long without a take()
   */
  constructor(readonly size: number, private readonly keep: number, private readonly idleMs = 30_000) {}

  /** A buffer of `size` bytes (contents undefined). */
  take(): Buffer {
    this.used = true;
    if (!this.timer) {
      this.timer = setInterval(() => {
        if (!this.used) { this.free = []; clearInterval(this.timer); this.timer = undefined; }
        this.used = false;
      }, this.idleMs).unref();
    }
    const ab = this.free.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(this.size);
  }

  /** Returns a buffer from take() (or any view of it) once nothing refers to its bytes any more. */
  give(view: Uint8Array): void {
    const ab = view.buffer;
    if (!(ab instanceof ArrayBuffer) || ab.byteLength !== this.size || this.free.length >= this.keep) return;
    this.free.push(ab);
  }

  /** Buffers waiting for reuse (tests). */
  get available(): number { return this.free.length; }
}
