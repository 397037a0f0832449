// The demo shop's own script: a listing is not sent anywhere, only shown.
// shop-demo.html has both elements.
const form = /** @type {HTMLFormElement} */ (document.getElementById('listing'));
const submitted = /** @type {HTMLElement} */ (document.getElementById('submitted'));
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const genres = data.getAll('genres');
  submitted.textContent =
    `Would list “${data.get('title')}” at €${data.get('price')} under ${genres.length ? genres.join(', ') : 'no genre'} (this demo sends nothing).`;
});
