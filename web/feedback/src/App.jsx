import { useEffect, useId, useState } from "react";
import { customerOffers, sendRating } from "./api.js";

const STARS = [1, 2, 3, 4, 5];

function OfferCard({ offer }) {
  const [stars, setStars] = useState(null);
  const [thumb, setThumb] = useState(null);
  const [status, setStatus] = useState("");
  const headingId = useId();

  async function rate(rating) {
    setStatus("Saving…");
    try {
      await sendRating(offer, rating, crypto.randomUUID());
      if (rating.stars) setStars(rating.stars);
      if (rating.thumb) setThumb(rating.thumb);
      setStatus("Thanks, your rating is saved.");
    } catch (error) {
      setStatus(`Not saved: ${error.message}`);
    }
  }

  return (
    <article className="offer" aria-labelledby={headingId}>
      <h2 id={headingId}>Offer {offer.offer_id}</h2>
      <p className="copy">{offer.copy_text}</p>
      <p className="meta">
        Prompt {offer.prompt_version} · generator {offer.generator_version} · {offer.ratings} rating(s)
        {offer.mean_stars != null && `, mean ${offer.mean_stars.toFixed(1)} stars`}
      </p>
      <div className="thumbs" role="group" aria-label={`Thumbs for offer ${offer.offer_id}`}>
        <button type="button" aria-pressed={thumb === "up"} onClick={() => rate({ thumb: "up" })}>
          <span aria-hidden="true">👍</span> Helpful
        </button>
        <button type="button" aria-pressed={thumb === "down"} onClick={() => rate({ thumb: "down" })}>
          <span aria-hidden="true">👎</span> Not helpful
        </button>
      </div>
      <fieldset className="stars">
        <legend>Rate this copy for offer {offer.offer_id}</legend>
        {STARS.map((value) => (
          <label key={value}>
            <input
              type="radio"
              name={`stars-${offer.decision_id}`}
              value={value}
              checked={stars === value}
              onChange={() => rate({ stars: value })}
            />
            {value} {value === 1 ? "star" : "stars"}
          </label>
        ))}
      </fieldset>
      <p className="status" role="status" aria-live="polite">
        {status}
      </p>
    </article>
  );
}

export default function App() {
  const initial = new URLSearchParams(window.location.search).get("customer") || "";
  const [customerId, setCustomerId] = useState(initial);
  const [shown, setShown] = useState(initial);
  const [offers, setOffers] = useState(null);
  const [error, setError] = useState("");

  async function load(id) {
    if (!/^\d+$/.test(id)) {
      setError("A customer id is a whole number.");
      return;
    }
    setError("");
    try {
      setOffers(await customerOffers(id));
      setShown(id);
    } catch (e) {
      setError(e.message);
    }
  }

  useEffect(() => {
    if (initial) load(initial);
  }, []); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <main>
      <h1>Your offers</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          load(customerId.trim());
        }}
      >
        <label htmlFor="customer-id">Customer id</label>
        <input
          id="customer-id"
          inputMode="numeric"
          value={customerId}
          onChange={(event) => setCustomerId(event.target.value)}
        />
        <button type="submit">Show offers</button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {offers && offers.length === 0 && <p>No offers for customer {shown} yet.</p>}
      {offers && offers.map((offer) => (
        <OfferCard key={offer.decision_id} offer={offer} />
      ))}
    </main>
  );
}
