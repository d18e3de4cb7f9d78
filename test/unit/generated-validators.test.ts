import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateValidators, leanOcppCode } from '../../scripts/gen-validators.js';

describe('generated validators', () => {
  it.each(generateValidators())(
    '$path is in step with its schemas (npm run gen:validators)',
    ({ path, source }) => {
      expect(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')).toBe(source);
    },
  );

  it('rewrites the length check it knows, and refuses Ajv code with a shape it does not rewrite', () => {
    const prelude = 'const func0 = require("ajv/dist/runtime/ucs2length").default;';
    expect(leanOcppCode(`${prelude}if(func0(data0) > 20){}`)).toBe(
      `${prelude}if((data0.length > 20 && func0(data0) > 20)){}`,
    );
    expect(() => leanOcppCode(`${prelude}if(func0(data[0]) > 20){}`)).toThrow(/length check/);
    expect(() => leanOcppCode(`${prelude}if(func0(data0) < 1){}`)).toThrow(/length check/);
    expect(() => leanOcppCode(`${prelude}validate1(x, {instancePath, parentData:data, rootData})`)).toThrow(
      /options argument/,
    );
    expect(() => leanOcppCode('function validate0(data){}')).toThrow(/ucs2length/);
  });
});
