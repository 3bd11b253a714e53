// ESLint flat config for the whole workspace (`npm run lint` runs `eslint .`).
// Non-type-checked typescript-eslint presets: fast, and no tsconfig project needed per file.
// Layering (who may import whom) lives in .dependency-cruiser.cjs, not here.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const TEST_FILES = [
  '**/*.test.ts',
  '**/*.spec.ts',
  'packages/*/test/**',
  'examples/**/test/**',
  'scripts/**',
  'bench/**',
];

/** Node globals for plain JS files (TS files get their globals from @types/node via tsc). */
const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  URL: 'readonly',
  URLSearchParams: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  setImmediate: 'readonly',
  clearImmediate: 'readonly',
  queueMicrotask: 'readonly',
  structuredClone: 'readonly',
  AbortController: 'readonly',
  AbortSignal: 'readonly',
  TextEncoder: 'readonly',
  TextDecoder: 'readonly',
  fetch: 'readonly',
  globalThis: 'readonly',
};

export default defineConfig(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/coverage/**',
      'bench/results/**',
      'site/**',
      'scripts/fixtures/**',
      '**/*.d.ts',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs,cjs,ts,mts,cts}'],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: nodeGlobals,
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'separate-type-imports', disallowTypeAnnotations: true },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // Shipped library code: curated named exports only (no `export *`: the public surface is named, one export at a time).
    files: ['packages/*/src/**/*.{ts,mts,cts,js,mjs}'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ExportAllDeclaration',
          message: 'No `export *`: re-export named symbols so the public API stays curated.',
        },
      ],
    },
  },
  {
    // Tests, benches and repo scripts may use `any` for fakes and poking at internals.
    files: TEST_FILES,
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The dashboard's browser app: plain ES modules served as they are (no build step).
    files: ['packages/dashboard/ui/**/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        location: 'readonly',
        history: 'readonly',
        navigator: 'readonly',
        localStorage: 'readonly',
        EventSource: 'readonly',
        Element: 'readonly',
        requestAnimationFrame: 'readonly',
      },
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        ...nodeGlobals,
        module: 'writable',
        require: 'readonly',
        exports: 'writable',
        __dirname: 'readonly',
        __filename: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
