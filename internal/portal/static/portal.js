// Islands of behaviour over pages that work without JavaScript: a copy
// button on every code block. No inline script (the CSP forbids it).
document.addEventListener('DOMContentLoaded', () => {
  for (const pre of document.querySelectorAll('pre')) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'copy';
    button.textContent = 'Copy';
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(pre.innerText);
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Select and copy';
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    });
    pre.classList.add('has-copy');
    pre.before(button);
  }
});
