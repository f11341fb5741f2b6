/** Hop requests built by hand, as an egress node builds them (same header, seal and frames), for attacks on an ingress. */
import { FrameEncoder, type MessageSeal } from '../../src/services/hop/frame-codec.ts';
import { EpochSequence } from '../../src/services/hop/hop-epoch.ts';
import { formatRequest, requestBinding, type HopEncoding } from '../../src/services/hop/hop-header.ts';
import { HopState } from '../../src/services/hop/hop-state.ts';
import { LinkKey } from '../../src/services/hop/link-key.ts';
import { sealMessage } from '../../src/services/hop/sealed-message.ts';
import { ConfigSchema } from '../../src/config.ts';

const settings = ConfigSchema.parse({}).services.hop;

export interface HandBuiltHop {
  header: string;
  seal: MessageSeal;
  hop: HopState;
  /** The body sealed whole, as an egress sends a small body of known length. */
  whole(frameBytes?: number): Buffer;
  /** The body through a FrameEncoder (the streamed form). */
  streamed(frameBytes?: number): Promise<Buffer>;
}

/** One epoch per link key and test file, as one egress process has. */
const sequences = new Map<string, EpochSequence>();

export function handBuiltHop(key: { id: string; key: string }, o: { path: string; body: Buffer; caller: number; ts?: number; method?: string; enc?: HopEncoding; deadline?: number; len?: number }): HandBuiltHop {
  const link = new LinkKey(key.id, key.key);
  let seq = sequences.get(key.id + key.key);
  if (seq === undefined) sequences.set(key.id + key.key, (seq = new EpochSequence(link)));
  const counter = seq.take();
  const epoch = seq.current;
  const header = formatRequest(key.id, epoch.id, counter, o.ts ?? Date.now(), o.deadline ?? 0, o.enc ?? 'n', o.caller, o.len ?? o.body.length);
  const hop = new HopState(epoch.key, counter, settings);
  const seal = hop.request(requestBinding(header, o.method ?? 'POST', o.path));
  return {
    header,
    seal,
    hop,
    whole: (frameBytes = 65_536) => sealMessage(seal, o.body, frameBytes),
    streamed: (frameBytes = 65_536) => new Promise((resolve, reject) => {
      const encoder = new FrameEncoder(seal, frameBytes);
      const frames: Buffer[] = [];
      encoder.on('data', (c: Buffer) => frames.push(c));
      encoder.on('end', () => resolve(Buffer.concat(frames)));
      encoder.on('error', reject);
      encoder.end(o.body);
    }),
  };
}
