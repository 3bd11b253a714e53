/**
 * @module protocol/topic
 * kombu's topic-exchange matching (AMQP rules), shared by brokers that emulate fanout and
 * topic exchanges (memory, Redis pub/sub): routing keys are words separated by '.', a
 * binding key's `*` matches exactly one word and `#` zero or more words.
 */

/** True when `routingKey` matches the topic `bindingKey`. */
export function topicMatches(bindingKey: string, routingKey: string): boolean {
  if (bindingKey === '#') return true;
  if (!bindingKey.includes('*') && !bindingKey.includes('#')) return bindingKey === routingKey;
  const pattern = bindingKey.split('.');
  const words = routingKey === '' ? [] : routingKey.split('.');
  return matchWords(pattern, 0, words, 0);
}

function matchWords(pattern: readonly string[], p: number, words: readonly string[], w: number): boolean {
  while (p < pattern.length) {
    const part = pattern[p] as string;
    if (part === '#') {
      // '#' swallows any number of words: try every split point, shortest first.
      for (let skip = w; skip <= words.length; skip++) {
        if (matchWords(pattern, p + 1, words, skip)) return true;
      }
      return false;
    }
    if (w >= words.length) return false;
    if (part !== '*' && part !== words[w]) return false;
    p++;
    w++;
  }
  return w === words.length;
}
