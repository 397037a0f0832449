// The demo shop's own script: a listing is not sent anywhere, only shown.
const form = document.getElementById('listing');
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const genres = data.getAll('genres');
  document.getElementById('submitted').textContent =
    `Would list “${data.get('title')}” at €${data.get('price')} under ${genres.length ? genres.join(', ') : 'no genre'} (this demo sends nothing).`;
});
