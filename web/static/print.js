// The decision page's "print" link (the Content-Security-Policy allows no
// inline script, so the handler is attached here).
document.querySelectorAll('.print').forEach((link) =>
  link.addEventListener('click', (event) => {
    event.preventDefault();
    window.print();
  }));
