import t from 'tap';
import { clientFrameProperties } from './properties/client-frames.js';
import { decoderProperties } from './properties/decoders.js';
import { edgeDecoderProperties } from './properties/edge-decoders.js';
import { presenceNoticeProperties } from './properties/presence-notices.js';
import { checkInTest } from './check.js';

/** Decoders, the edge's checks and every client frame down to projectable events: no NATS, no Postgres, a few seconds. */
for (const p of [...decoderProperties, ...edgeDecoderProperties, ...clientFrameProperties, ...presenceNoticeProperties]) t.test(p.name, (t) => checkInTest(t, p));
