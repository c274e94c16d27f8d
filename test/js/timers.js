// setTimeout and clearTimeout: order by delay, then by creation; extra
// arguments; clearing before and inside a callback; nested timers; ids
// that differ. uvws-js exits once the last timer has run. No server.
function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}

var order = [];
var a = setTimeout(function () { order.push('a'); }, 100);
var b = setTimeout(function (x, y) { order.push('b' + x + y); }, 10, 1, '2');
setTimeout(function () { order.push('c'); }, 10);
setTimeout(function () { order.push('d'); });
var cleared = setTimeout(function () { order.push('cleared'); }, 5);
clearTimeout(cleared);
clearTimeout(12345); // unknown ids are ignored
if (a === b || typeof a !== 'number')
  throw new Error('timer ids');

var self = setTimeout(function () {
  clearTimeout(self); // its own, already running: nothing happens
  order.push('self');
  setTimeout(function () {
    order.push('nested');
  }, 0);
}, 20);

setTimeout(function () {
  eq(order.join(' '), 'd b12 c self nested a', 'order');
  console.log('PASS timers');
}, 200);
