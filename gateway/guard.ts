import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { errorBody } from '../lib/errors.js';
import type { Faults } from '../lib/faults.js';

/** An HTTP handler that cannot throw into uWS: what it throws is reported and answered 500 `internal`. */
export function guardHttp<A extends unknown[]>(
  faults: Faults,
  where: string,
  handler: (res: HttpResponse, req: HttpRequest, ...rest: A) => void,
): (res: HttpResponse, req: HttpRequest, ...rest: A) => void {
  return faults.guard(where, handler, (_err, [res]) => answerInternal(res));
}

/** A 500 in the protocol's error shape; a response already answered or aborted throws, and is left alone. */
function answerInternal(res: HttpResponse): void {
  try {
    res.cork(() => {
      res
        .writeStatus('500 Internal Server Error')
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify({ error: errorBody('internal', 'internal error') }));
    });
  } catch {
    // Already answered, or the client went away: nothing more to say.
  }
}
