import { describe, expect, it } from 'vitest';
import { closestKey, editDistance } from '../../src/client/suggest.js';

const KNOWN = ['instances', 'min_uptime', 'kill_timeout', 'cwd', 'env', 'name', 'args', 'max_restarts', 'restart_delay'];

describe('closestKey', () => {
  it.each<[string, string | null]>([
    ['instance', 'instances'],
    ['minUptime', 'min_uptime'],
    ['MIN-UPTIME', 'min_uptime'],
    ['kill_timout', 'kill_timeout'],
    ['kilL_timeuot', 'kill_timeout'],
    ['nmae', 'name'],
    ['cdw', 'cwd'],
    ['envs', 'env'],
    ['max_restart', 'max_restarts'],
    ['colour', null],
    ['uid', null],
    ['deploy', null],
    ['restart', null],
    ['xy', null],
  ])('%s → %s', (key, expected) => {
    expect(closestKey(key, KNOWN)).toBe(expected);
  });
});

describe('editDistance', () => {
  it.each<[string, string, number]>([
    ['', '', 0],
    ['a', '', 1],
    ['abc', 'abc', 0],
    ['abc', 'acb', 1],
    ['kitten', 'sitting', 3],
  ])('%s / %s: %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});
