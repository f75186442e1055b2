/** HTTP helpers for the daemon: JSON responses, the error envelope, bounded body reads. */
import { AgtmuxError, HTTP_STATUS } from "../domain/errors.ts";
import { API_SCHEMA_VERSION, type ErrorBody } from "../wire/types.ts";

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

export function errorResponse(err: AgtmuxError): Response {
  const body: ErrorBody = { schema_version: API_SCHEMA_VERSION, error: err.toEnvelope() };
  return json(body, HTTP_STATUS[err.code]);
}

/** Reads a JSON body: content type, size limit (413) and syntax (400) checked. */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  const ct = req.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(ct)) {
    throw new AgtmuxError("E_UNSUPPORTED_MEDIA_TYPE", "request body must be application/json", { content_type: ct.slice(0, 100) });
  }
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body !== null) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks));
  if (text.trim() === "") throw new AgtmuxError("E_BAD_REQUEST", "request body is empty", {});
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AgtmuxError("E_BAD_REQUEST", "request body is not valid JSON", {
      parse_error: err instanceof Error ? err.message.slice(0, 200) : "invalid JSON",
    });
  }
}

function tooLarge(maxBytes: number): AgtmuxError {
  return new AgtmuxError("E_PAYLOAD_TOO_LARGE", `request body exceeds ${maxBytes} bytes`, { max_bytes: maxBytes });
}
