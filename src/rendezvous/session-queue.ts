/**
 * One queue per session: a job runs once every earlier job of its session has finished, so two packets of
 * one session never interleave their reads and writes of the store in this server (the store's atomic
 * `update` covers the writes between servers). Jobs of different sessions run side by side. A session's
 * entry goes when its last job has finished, so the map holds only sessions with work in flight.
 */
export class SessionQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(session: string, job: () => Promise<T>): Promise<T> {
    const before = this.tails.get(session);
    const result = before ? before.then(job) : job();
    // The queue goes on after a job that failed (its caller has the error); the last one out removes it.
    const done = () => {
      if (this.tails.get(session) === tail) this.tails.delete(session);
    };
    const tail: Promise<void> = result.then(done, done);
    this.tails.set(session, tail);
    return result;
  }

  /** Sessions with a job queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
