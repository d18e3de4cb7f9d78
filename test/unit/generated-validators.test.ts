import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateValidators } from '../../scripts/gen-validators.js';

describe('generated validators', () => {
  it.each(generateValidators())(
    '$path is in step with its schemas (npm run gen:validators)',
    ({ path, source }) => {
      expect(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')).toBe(source);
    },
  );
});
