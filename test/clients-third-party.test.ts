/**
 * Third-party clients as their users configure them, against the gateway in front
 * of an OpenAI-type channel and an Anthropic channel: the Vercel AI SDK's default
 * `openai(model)` provider (the Responses API), the OpenAI Agents SDK with one tool,
 * and LangChain's ChatOpenAI on the Responses API.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { z } from 'zod';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { Agent, run, tool as agentTool, setDefaultOpenAIClient, setTracingDisabled, setOpenAIAPI } from '@openai/agents';
import { ChatOpenAI } from '@langchain/openai';
import type { MockUpstream } from '../src/mock/mock-upstream.ts';
import type { Fixture } from './support/gateway-fixture.ts';
import { startTwoChannels, type TwoChannels } from './support/two-channels.ts';

let gateway: TwoChannels;
let fx: Fixture;
let oaiUpstream: MockUpstream;
let antUpstream: MockUpstream;

before(async () => {
  gateway = await startTwoChannels();
  ({ fx, oai: oaiUpstream, ant: antUpstream } = gateway);
  setTracingDisabled(true);
  setOpenAIAPI('responses');
  setDefaultOpenAIClient(new OpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1`, maxRetries: 0 }));
});
after(() => gateway.close());

const upstreamOf = (model: string) => (model === 'gpt-x' ? oaiUpstream : antUpstream);
const paths = (m: MockUpstream) => Object.keys(m.stats.byPath);

for (const model of ['gpt-x', 'claude-x']) {
  test(`Vercel AI SDK openai(${model}): generateText calls the tool and answers after its result`, async () => {
    const provider = createOpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1` });
    upstreamOf(model).resetStats();
    let called = 0;
    const result = await generateText({
      model: provider(model),
      prompt: 'What is the weather in Oslo?',
      tools: {
        weather: tool({
          description: 'Weather now',
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            called++;
            return { city, temp: 3 };
          },
        }),
      },
      stopWhen: stepCountIs(3),
    });
    assert.equal(called, 1);
    assert.equal(result.steps.length, 2, 'a tool step, then the answer');
    assert.ok(result.text.length > 0);
    assert.ok(result.usage.outputTokens! > 0);
    // The provider's default is the Responses API; the Anthropic channel gets it translated.
    assert.deepEqual(paths(upstreamOf(model)), [model === 'gpt-x' ? '/v1/responses' : '/v1/messages']);
  });

  test(`Vercel AI SDK openai(${model}): streamText streams the same text generateText returns`, async () => {
    const provider = createOpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1` });
    const whole = await generateText({ model: provider(model), prompt: 'Tell me something.' });
    const stream = streamText({ model: provider(model), prompt: 'Tell me something.' });
    let text = '';
    for await (const part of stream.textStream) text += part;
    assert.equal(text, whole.text);
    assert.ok((await stream.usage).outputTokens! > 0);
  });

  test(`OpenAI Agents SDK on ${model}: an agent with one tool runs to a final answer`, async () => {
    let called = 0;
    const weather = agentTool({
      name: 'weather',
      description: 'Weather now',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        called++;
        return `${city}: 3 degrees`;
      },
    });
    const agent = new Agent({ name: 'Forecaster', instructions: 'Answer with the weather.', model, tools: [weather] });
    const result = await run(agent, 'Weather in Oslo?');
    assert.equal(called, 1);
    assert.equal(typeof result.finalOutput, 'string');
    assert.ok((result.finalOutput as string).length > 0);
  });

  test(`LangChain ChatOpenAI({ useResponsesApi: true }) on ${model}: invoke, stream and a bound tool`, async () => {
    const chat = new ChatOpenAI({ model, useResponsesApi: true, apiKey: fx.key, configuration: { baseURL: `${fx.url}/v1` }, maxRetries: 0 });
    const reply = await chat.invoke('Hello there');
    assert.ok(typeof reply.content === 'string' ? reply.content.length > 0 : reply.content.length > 0);
    let streamed = '';
    for await (const chunk of await chat.stream('Hello there')) streamed += typeof chunk.content === 'string' ? chunk.content : chunk.text;
    assert.ok(streamed.length > 0);
    const withTool = chat.bindTools([{ type: 'function', function: { name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }]);
    const call = await withTool.invoke('Weather in Oslo?');
    assert.equal(call.tool_calls?.[0]?.name, 'weather');
    assert.equal(typeof call.tool_calls?.[0]?.args.city, 'string');
  });
}
