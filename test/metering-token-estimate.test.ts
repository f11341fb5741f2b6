/**
 * Prompt token estimates with the real tokenizer (o200k_base).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countTokens } from 'gpt-tokenizer';
import { countCompletionTokens, estimatePromptTokens } from '../src/metering/token-estimate.ts';

describe('estimatePromptTokens', () => {
  test('known strings', () => {
    assert.equal(countCompletionTokens('Hello, world!'), 4);
    assert.equal(countCompletionTokens(''), 0);
    assert.equal(countCompletionTokens('The quick brown fox jumps over the lazy dog.'), 10);
  });

  test('chat: content + role + 3 per message + 3 reply priming (OpenAI reports 8 for one "Hello" on gpt-4o)', () => {
    assert.equal(estimatePromptTokens({ messages: [{ role: 'user', content: 'Hello' }] }, 'chat'), 8);
    const two = estimatePromptTokens(
      { messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello, world!', name: 'bob' }] },
      'chat',
    );
    // system: 3 + 1 (system) + 4; user: 3 + 1 (user) + 4 + 1 + 1 (bob); priming 3
    assert.equal(two, 3 + 1 + countTokens('You are terse.') + 3 + 1 + 4 + 1 + countTokens('bob') + 3);
  });

  test('array-of-parts content counts the same text as a string, images a fixed amount', () => {
    const asString = estimatePromptTokens({ messages: [{ role: 'user', content: 'Describe this picture in detail.' }] }, 'chat');
    const asParts = estimatePromptTokens(
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe this picture in detail.' }] }] },
      'chat',
    );
    assert.equal(asParts, asString);
    const withImage = estimatePromptTokens(
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe this picture in detail.' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            ],
          },
        ],
      },
      'chat',
    );
    assert.equal(withImage, asString + 765);
  });

  test('messages (Anthropic): system string or blocks, tool_use and tool_result', () => {
    const a = estimatePromptTokens({ system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] }, 'messages');
    const b = estimatePromptTokens({ system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] }, 'messages');
    assert.equal(a, b);
    assert.equal(a, countTokens('Be brief.') + 3 + 1 + countTokens('Hi') + 3);
    const tools = estimatePromptTokens(
      {
        messages: [
          { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'sunny, 21 C' }] },
        ],
      },
      'messages',
    );
    assert.ok(tools > countTokens('get_weather') + countTokens('sunny, 21 C'));
  });

  test('completions and embeddings: strings, string arrays, token arrays', () => {
    assert.equal(estimatePromptTokens({ prompt: 'Hello, world!' }, 'completions'), 4);
    assert.equal(estimatePromptTokens({ prompt: ['Hello, world!', 'Hello'] }, 'completions'), 5);
    assert.equal(estimatePromptTokens({ prompt: [1, 2, 3] }, 'completions'), 3);
    assert.equal(estimatePromptTokens({ input: [[1, 2, 3], [4, 5]] }, 'embeddings'), 5);
    assert.equal(estimatePromptTokens({ input: 'Hello, world!' }, 'embeddings'), 4);
  });

  test('special-token text is counted as text, not thrown on', () => {
    const n = estimatePromptTokens({ messages: [{ role: 'user', content: 'a <|endoftext|> b' }] }, 'chat');
    assert.ok(n > 8);
    assert.ok(countCompletionTokens('<|im_start|>') > 1);
  });

  test('malformed bodies count what they can and never throw', () => {
    assert.equal(estimatePromptTokens(null, 'chat'), 0);
    assert.equal(estimatePromptTokens('text', 'chat'), 0);
    assert.equal(estimatePromptTokens({ messages: 'nope' }, 'chat'), 0);
    assert.equal(estimatePromptTokens({ messages: [null, 5, { role: 7, content: { x: 1 } }] }, 'chat'), 3 + 3);
    assert.equal(estimatePromptTokens({ prompt: { a: 1 } }, 'completions'), 0);
  });

  test('a long prompt beyond the exact budget is extrapolated near the exact count', () => {
    const prose = 'The committee reviewed the proposal and asked for a revised budget by Friday. '.repeat(3000); // ~234k chars
    const exact = countTokens(prose);
    const est = estimatePromptTokens({ prompt: prose }, 'completions');
    assert.ok(est >= exact * 0.95 && est <= exact * 1.3, `estimate ${est} vs exact ${exact}`);
    // Many medium parts share one budget: the total stays near the exact count too.
    const parts = Array.from({ length: 40 }, (_, i) => `Part ${i}: ` + prose.slice(0, 10_000));
    const estParts = estimatePromptTokens({ input: parts }, 'embeddings');
    const exactParts = parts.reduce((n, p) => n + countTokens(p), 0);
    assert.ok(estParts >= exactParts * 0.95 && estParts <= exactParts * 1.3, `estimate ${estParts} vs exact ${exactParts}`);
  });
});

describe('hostile nesting', () => {
  // A client can nest tool results 20,000 deep; the estimate must come back, not overflow the stack.
  const deepToolResult = (depth: number) => {
    let content: unknown = 'leaf text';
    for (let i = 0; i < depth; i++) content = [{ type: 'tool_result', tool_use_id: `t${i}`, content }];
    return { messages: [{ role: 'user', content }] };
  };

  test('20,000-deep tool_result: an estimate at least as large as the text it holds', () => {
    assert.ok(estimatePromptTokens(deepToolResult(100), 'messages') >= countTokens('leaf text'));
    const deep = deepToolResult(20_000);
    const n = estimatePromptTokens(deep, 'messages');
    assert.ok(Number.isSafeInteger(n) && n > 20_000, `estimate ${n} covers the structure`);
  });

  test('deeply nested tools JSON is sized without recursion', () => {
    let schema: unknown = { type: 'string' };
    for (let i = 0; i < 20_000; i++) schema = { type: 'object', properties: { x: schema } };
    const n = estimatePromptTokens({ messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: schema } }] }, 'chat');
    assert.ok(n > 20_000, `estimate ${n}`);
  });
});
