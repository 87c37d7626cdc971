// The feedback service's API (docs/feedback-openapi.json), same origin as the page.

async function readJson(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

export async function customerOffers(customerId) {
  return readJson(await fetch(`v1/customers/${encodeURIComponent(customerId)}/offers`));
}

// One rating; the idempotency key makes a retry of the same click safe (stored once).
export async function sendRating(offer, rating, idempotencyKey) {
  const response = await fetch("v1/feedback", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      idempotency_key: idempotencyKey,
      decision_id: offer.decision_id,
      offer_id: offer.offer_id,
      customer_id: offer.customer_id,
      prompt_version: offer.prompt_version,
      generator_version: offer.generator_version,
      copy_text: offer.copy_text,
      rated_at: new Date().toISOString(),
      ...rating,
    }),
  });
  return readJson(response);
}
