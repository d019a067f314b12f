import type { MessageErrorCode, MessageErrorLike } from './messages.js';

/** The error every rejection of `supervisor-node/process` carries: a code and a message. */
export class MessageError extends Error implements MessageErrorLike {
  override name = 'MessageError';
  constructor(
    readonly code: MessageErrorCode,
    message: string,
    readonly remote?: MessageErrorLike['remote'],
  ) {
    super(message);
  }
}
