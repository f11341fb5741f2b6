/**
 * The built-in mock upstream (src/mock/): it answers the OpenAI (chat and Responses)
 * and the Anthropic endpoints, each in that protocol's own dialect, and takes a Bearer key.
 */
import { bearerAuth } from '../openai/openai.ts';
import type { Provider } from '../provider.ts';

export const mockProvider: Provider = { type: 'mock', protocols: ['openai', 'responses', 'anthropic'], auth: bearerAuth };
