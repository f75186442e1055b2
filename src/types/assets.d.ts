// Text imports (`with { type: "text" }`) are embedded into the compiled binary.
declare module "*.sql" {
  const text: string;
  export default text;
}
