function lifespan(qid, lang) {
  // Birth (P569) and death (P570) dates of `qid` as "11 March 1952 – 11 May 2001";
  // "born 11 March 1952" / "né le …" if there is no death date; null without a birth date.
  const birth = call('claim', qid, 'P569');
  if (birth === null) return null;
  const born = call('format_value', birth, lang);
  const death = call('claim', qid, 'P570');
  if (death === null) {
    return { fr: `né le ${born}`, de: `geboren am ${born}` }[lang] ?? `born ${born}`;
  }
  const died = call('format_value', death, lang);
  return `${born} \u2013 ${died}`;
}
