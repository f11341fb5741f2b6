/**
 * The one error the request translators throw: a request that is valid in the client's
 * protocol but has no equivalent in the upstream's (or is malformed in a way the
 * translation cannot work around). The gateway answers it as a 400 naming `param`,
 * in the client's own error shape.
 */
export class TranslationError extends Error {
  /** HTTP status to answer with; always 400. */
  readonly status = 400;
  /** Stable error code for the error body. */
  readonly code = 'unsupported_parameter';
  /** The request field at fault, in the client's protocol (e.g. `messages[2].content[0].type`). */
  readonly param: string;

  constructor(message: string, param: string) {
    super(message);
    this.name = 'TranslationError';
    this.param = param;
  }
}
