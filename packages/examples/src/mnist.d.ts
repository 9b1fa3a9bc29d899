// The `mnist` package ships no types. It exports, per digit 0-9, the raw grey values of its
// samples (784 per digit image, in [0, 1]) and a few helpers this project does not use.
declare module 'mnist' {
  interface Digit {
    id: number;
    length: number;
    raw: number[];
  }
  const digits: Digit[];
  export default digits;
}
