export * from './ssh-node-bootstrap';
export * from './ssh-placement';
export * from './ssh-hosts';
