/**
 * Closing a connection whose request body is left unread (over the limit,
 * idle client) without losing the answer. Closing at once while the client is
 * still sending makes the kernel answer its next bytes with a reset, and a
 * reset discards the 413/408 the client had not read yet. So, as nginx's
 * lingering close does: send the answer, shut the write side, discard what
 * still arrives for a short while, then close.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long unread request bytes are read and discarded after the answer. */
const LINGER_MS = 2_000;

/**
 * Makes `res` the connection's last answer, closed the lingering way. Node
 * ends a non-keep-alive connection with socket.destroySoon() once the answer
 * is written; that one socket gets a lingering version instead.
 */
export function closeAfterAnswer(res: ServerResponse): void {
  res.shouldKeepAlive = false;
  const socket = res.socket;
  if (socket !== null) (socket as Socket & { destroySoon(): void }).destroySoon = lingeringDestroy;
}

function lingeringDestroy(this: Socket): void {
  this.end();
  this.resume();
  setTimeout(() => this.destroy(), LINGER_MS).unref();
}

/** Whether the request declares a body (chunked, or a non-zero Content-Length). */
export const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * For an answer given without reading the request's body (a GET with a body,
 * an unknown route): close after it. Node would otherwise drain the body to
 * its end to keep the connection, however long the client keeps sending.
 */
export function closeIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete && hasBody(req)) closeAfterAnswer(res);
}
