function format_date(value, lang) {
  // Render a time value such as {type: "time", time: "+1952-03-11T00:00:00Z", precision: 11}
  // as "11 March 1952" (en), "11 mars 1952" (fr), "11. März 1952" (de).
  // Precision 11 = day, 10 = month, 9 = year. A value without "time" is a TypeError.
  const months = {
    en: ['January', 'February', 'March', 'April', 'May', 'June', 'July',
      'August', 'September', 'October', 'November', 'December'],
    fr: ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet',
      'août', 'septembre', 'octobre', 'novembre', 'décembre'],
    de: ['Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli',
      'August', 'September', 'Oktober', 'November', 'Dezember'],
  };
  const era = { en: 'BC', fr: 'av. J.-C.', de: 'v. Chr.' };
  if (!(lang in months)) lang = 'en';
  const [date] = value.time.split('T'); // the malformed Q999 birth date fails here
  const precision = value.precision ?? 11;
  const [year, month, day] = date.slice(1).split('-').map(Number);
  const yearText = date[0] === '-' ? `${year} ${era[lang]}` : String(year);
  if (precision <= 9) return yearText;
  const monthName = months[lang][month - 1];
  if (precision === 10) return `${monthName} ${yearText}`;
  if (lang === 'de') return `${day}. ${monthName} ${yearText}`;
  if (lang === 'fr' && day === 1) return `1er ${monthName} ${yearText}`;
  return `${day} ${monthName} ${yearText}`;
}
